"""A SUBSCRIBE whose SUBSCRIBED reply was lost with the connection (PROTOCOL.md section 6,
"Reconcile after a resume", protocol 1.2): the server wrote the reply, the client never read
it, and the resumed session holds a subscription the client does not know, whose batch every
EXCHANGE_RESULT then carries. ``Client.reconnect`` lists the session's subscriptions
(GET_SUBSCRIPTIONS) and unsubscribes the unknown one, so the batches are the client's again."""

from __future__ import annotations

from pathlib import Path

import pytest

from spikeforge.ipc.client import Client
from spikeforge.ipc.protocol import Msg
from spikeforge.ipc.testing import ReplyDropper, running_server


def test_a_resumed_client_unsubscribes_a_subscription_whose_reply_it_lost(tmp_path: Path) -> None:
    with running_server(tmp_path, backend="numpy", seed=1, args=["--grace-seconds", "30"]) as srv, \
            ReplyDropper(srv.host, srv.port) as proxy:
        c = Client.connect(proxy.host, proxy.port, token_file=srv.token_path, name="unlucky", timeout=30)
        assert c.welcome.minor >= 2
        c.spawn("probe", 3)
        kept = c.subscribe("out")
        proxy.drop_next(Msg.SUBSCRIBED)
        with pytest.raises(OSError):
            c.subscribe("")
        assert proxy.dropped and proxy.dropped[0][0] == Msg.SUBSCRIBED
        assert c.unanswered == Msg.SUBSCRIBE and c.subscriptions == [kept]
        c.reconnect()
        assert c.welcome.resumed and c.unanswered == 0
        # the lost SUBSCRIBE's subscription (the id after kept) is gone again
        assert c.reconciled_subscriptions == [kept + 1], c.reconciled_subscriptions
        assert [x.sub_id for x in c.subscriptions_of_session()] == c.subscriptions == [kept]
        res = c.exchange(0.004)
        assert [b.sub_id for b in res.batches] == [kept]
        again = c.subscribe("")
        assert [b.sub_id for b in c.exchange(0.004).batches] == c.subscriptions == [kept, again]

        # an UNSUBSCRIBE whose OK was lost took effect: the client had already forgotten it
        proxy.drop_next(Msg.OK)
        with pytest.raises(OSError):
            c.unsubscribe(kept)
        assert c.unanswered == Msg.UNSUBSCRIBE and c.subscriptions == [again]
        c.reconnect()
        assert c.reconciled_subscriptions == [] and c.subscriptions == [again]
        assert [b.sub_id for b in c.exchange(0.004).batches] == [again]

        # a drop with another request in flight leaves the subscriptions alone
        proxy.drop_next(Msg.PONG)
        with pytest.raises(OSError):
            c.ping()
        c.reconnect()
        assert c.reconciled_subscriptions == [] and c.subscriptions == [again]
        c.close()
    assert "Traceback" not in srv.stderr, srv.stderr[-3000:]
