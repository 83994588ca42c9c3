# spikeforge: the two README commands are `make demo` and `make test`.
# Both set themselves up on a fresh Debian/Ubuntu machine (venv, pip, apt when root).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
APT_PACKAGES := mono-devel nunit-console godot3-server mesa-vulkan-drivers libvulkan1
export XDG_RUNTIME_DIR ?= $(CURDIR)/.venv/xdg-runtime

.PHONY: demo test docs venv apt godot4 lint typecheck native clean bench

$(VENV)/.installed: pyproject.toml $(wildcard setup.py) $(wildcard native/src/*.c) $(wildcard native/src/*.h) $(wildcard native/include/*.h)
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[dev,docs,gpu,unity,plot,cluster,train,rl]' pygame
	mkdir -p $(XDG_RUNTIME_DIR) && chmod 700 $(XDG_RUNTIME_DIR)
	touch $@

venv: $(VENV)/.installed

# `make demo` needs only the core and matplotlib: a cold clone reaches the demo in well under a minute.
$(VENV)/.demo-installed: pyproject.toml $(wildcard setup.py) $(wildcard native/src/*.c) $(wildcard native/src/*.h) $(wildcard native/include/*.h)
	@echo "spikeforge demo setup: creating the virtual environment $(VENV) ..."
	@test -x $(VPY) || $(PY) -m venv $(VENV)
	@echo "spikeforge demo setup: installing spikeforge with numpy, cffi, rich, matplotlib and compiling the C kernels (~30 s) ..."
	@$(VPY) -m pip install -q --disable-pip-version-check -e '.[plot]'
	@echo "spikeforge demo setup: done."
	@touch $@

# System packages the tests use for real: Mono (Unity client), Godot 3 (engine e2e),
# lavapipe (wgpu on Vulkan without a GPU). Installed when we are root.
apt:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    for i in 1 2 3 4 5; do \
	      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) && break; \
	      echo "apt busy or failed, retrying ($$i)"; sleep 15; \
	    done; \
	  fi; \
	else echo "not root: expecting $(APT_PACKAGES) to be installed already"; fi

# Godot 4 for the Godot 4 tests and `spikeforge bench godot`: $$GODOT4, `godot` 4.2+ on PATH,
# or Debian sid's `godot` unpacked into .venv/godot4-root with a private apt configuration
# (nothing installed system-wide; package names resolved from the sid index at install time).
godot4:
	$(PY) integrations/godot/install_godot4.py --root $(VENV)/godot4-root

demo: $(VENV)/.demo-installed
	@$(VENV)/bin/spikeforge demo

# The documentation site (Sphinx + MyST, API reference from the docstrings); warnings are errors.
docs: venv
	$(VPY) -m sphinx -W --keep-going -q -b html docs build/docs
	@echo "documentation: build/docs/index.html"

lint: venv
	$(VENV)/bin/ruff check sdk tests samples
	$(VENV)/bin/mypy

typecheck: lint

test: apt venv godot4 docs
	$(VENV)/bin/ruff check sdk tests samples
	$(VENV)/bin/mypy
	$(VPY) -m pytest -q -p no:cacheprovider tests

# Plain shared library of the C kernels + C API (the Python extension is built by pip install).
native:
	$(MAKE) -C native all host

clean:
	rm -rf $(VENV) build dist *.egg-info native/build
