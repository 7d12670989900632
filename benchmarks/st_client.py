"""A headless Streamlit tab: the browser's side of ``/_stcore/stream``, without a browser.

Speaks the protocol Streamlit's frontend speaks (protobufs over one websocket,
``streamlit/proto/BackMsg.proto`` and ``ForwardMsg.proto``): it asks for a
page with a ``rerun_script`` BackMsg and reads ForwardMsgs until the run's
``script_finished``; it clicks a button by sending the button's widget id with
``trigger_value``; and, as an open tab does, it reruns each fragment the server
announced with ``auto_rerun`` every ``interval`` seconds until a full run or a
``stop_auto_rerun`` drops it (the frontend's ``handleAutoRerun``,
``cleanupAutoReruns`` and ``handleStopAutoRerun`` in ``App.tsx``).

The handshake follows ``streamlit/web/server/starlette/starlette_websocket.py``:
the first ``Sec-WebSocket-Protocol`` entry is ``streamlit``; the XSRF token (the
second entry) is only checked when the request carries an ``Origin`` header,
which this client does not send. Nothing is rendered; widget ids are read off
the elements as they arrive.

Used by ``bench_class.py``; needs ``websockets`` (a dependency of Streamlit).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect

# script_finished values (ForwardMsg.ScriptFinishedStatus)
FINISHED = ForwardMsg.FINISHED_SUCCESSFULLY
COMPILE_ERROR = ForwardMsg.FINISHED_WITH_COMPILE_ERROR
EARLY_FOR_RERUN = ForwardMsg.FINISHED_EARLY_FOR_RERUN
FRAGMENT_FINISHED = ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
HEARTBEAT_SECONDS = 30.0  # app_heartbeat, as the frontend sends to keep idle tabs alive


@dataclass
class Tab:
    """What one tab has seen: timings in seconds, counts, the last widget ids by key."""

    page_loads: list[float] = field(default_factory=list)  # full runs this tab asked for
    clicks: list[float] = field(default_factory=list)  # button click -> the page redrawn
    fragment_runs: list[float] = field(default_factory=list)  # auto-rerun request -> finished
    # the same by the fragment's interval (the Train page: 2 s progress rows, 5 s charts)
    fragment_runs_every: dict[float, list[float]] = field(default_factory=dict)
    fragment_requests: int = 0  # auto-rerun requests sent (several may share one run)
    # fragment runs ended early because another rerun request came in (the request that
    # started one is answered by the next run of the same fragment, an interval later)
    fragment_interrupted: int = 0
    fragment_log: list[tuple[float, str, float]] = field(default_factory=list)  # (at, id, s)
    server_runs: list[float] = field(default_factory=list)  # full runs the server started
    widget_ids: dict[str, str] = field(default_factory=dict)  # user key -> widget id
    fragments: set[str] = field(default_factory=set)  # fragment ids with an auto-rerun timer
    fragments_seen: set[str] = field(default_factory=set)  # every fragment ever announced
    exceptions: list[str] = field(default_factory=list)  # st.exception elements received
    errors: list[str] = field(default_factory=list)  # st.error alerts received
    bytes_in: int = 0
    messages_in: int = 0


_KEY = re.compile(r"^\$\$ID-[0-9a-f]+-(?P<key>.+)$")  # compute_and_register_element_id


class StreamlitTab:
    """One headless tab on ``url_path`` of the app at ``base`` (``ws://host:port``)."""

    def __init__(
        self,
        base: str,
        url_path: str,
        query_string: str = "",
        cookie: str | None = None,
    ) -> None:
        self.base = base
        self.url_path = url_path  # "train": the page's url_pathname
        self.query_string = query_string  # kept in step with page_info_changed, as the URL is
        self.cookie = cookie
        self.seen = Tab()
        self.page_hash = ""  # page_script_hash, once new_session named it
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._timers: dict[str, tuple[float, asyncio.Task[None]]] = {}
        self._pending_fragments: dict[str, float] = {}  # fragment id -> oldest unanswered send
        self._run_waiter: asyncio.Future[int] | None = None
        self._server_run_started: float | None = None
        self._ended_early = False  # the last run was a fragment's, ended early
        self._closed = False

    # -- connection ------------------------------------------------------------------------
    async def connect(self) -> float:
        """Open the websocket; the seconds it took."""
        started = time.perf_counter()
        headers = {"Cookie": self.cookie} if self.cookie else None
        self._ws = await connect(
            f"{self.base}/_stcore/stream",
            subprotocols=["streamlit"],  # type: ignore[list-item]
            additional_headers=headers,
            max_size=None,  # a page with charts is several MB of protobuf
            ping_interval=20,
        )
        self._reader = asyncio.create_task(self._read())
        self._heartbeat = asyncio.create_task(self._beat())
        return time.perf_counter() - started

    async def close(self) -> None:
        self._closed = True
        for _, timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in (self._heartbeat, self._reader):
            if task is not None:
                task.cancel()
        if self._ws is not None:
            await self._ws.close()

    # -- requests --------------------------------------------------------------------------
    async def load(self, timeout: float = 120.0) -> float:
        """Ask for the page (a full run, as on opening or refreshing it); seconds to finished."""
        started = time.perf_counter()
        await self._full_run([], timeout)
        elapsed = time.perf_counter() - started
        self.seen.page_loads.append(elapsed)
        return elapsed

    async def click(
        self, key: str, others: list[WidgetState] | None = None, timeout: float = 120.0
    ) -> float:
        """Click the button with widget key ``key`` (with ``others`` as changed widgets)."""
        widget = WidgetState(id=self.widget_id(key), trigger_value=True)
        started = time.perf_counter()
        await self._full_run([*(others or []), widget], timeout)
        elapsed = time.perf_counter() - started
        self.seen.clicks.append(elapsed)
        return elapsed

    def widget_id(self, key: str) -> str:
        """The widget id of user key ``key``; for a key ending in ``_*``, its latest match."""
        if key.endswith("_*"):
            prefix = key[:-1]
            found = [k for k in self.seen.widget_ids if k.startswith(prefix)]
            if found:
                return self.seen.widget_ids[max(found, key=lambda k: (len(k), k))]
        elif key in self.seen.widget_ids:
            return self.seen.widget_ids[key]
        raise KeyError(
            f"no widget with key {key!r} on the page (seen: {sorted(self.seen.widget_ids)})"
        )

    def _client_state(self, widgets: list[WidgetState], fragment_id: str = "") -> ClientState:
        state = ClientState(
            query_string=self.query_string,
            page_script_hash=self.page_hash,
            page_name="" if self.page_hash else self.url_path,
            fragment_id=fragment_id,
            is_auto_rerun=bool(fragment_id),
        )
        state.widget_states.widgets.extend(widgets)
        info = state.context_info
        info.timezone, info.timezone_offset, info.locale = "UTC", 0, "en-US"
        query = f"?{self.query_string}" if self.query_string else ""
        info.url = f"{self.base.replace('ws', 'http', 1)}/{self.url_path}{query}"
        return state

    async def _full_run(self, widgets: list[WidgetState], timeout: float) -> None:
        assert self._ws is not None, "connect() first"
        loop = asyncio.get_running_loop()
        self._run_waiter = loop.create_future()
        await self._ws.send(BackMsg(rerun_script=self._client_state(widgets)).SerializeToString())
        status = await asyncio.wait_for(self._run_waiter, timeout)
        if status == COMPILE_ERROR:
            raise RuntimeError(f"{self.url_path}: the page did not compile")

    async def _send_fragment(self, fragment_id: str) -> None:
        if self._ws is None or self._closed:
            return
        self._pending_fragments.setdefault(fragment_id, time.perf_counter())
        self.seen.fragment_requests += 1
        message = BackMsg(rerun_script=self._client_state([], fragment_id))
        await self._ws.send(message.SerializeToString())

    # -- background ------------------------------------------------------------------------
    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if self._ws is not None:
                await self._ws.send(BackMsg(app_heartbeat=True).SerializeToString())

    async def _every(self, fragment_id: str, interval: float) -> None:
        """setInterval: a rerun request every ``interval`` s, answered or not."""
        due = time.perf_counter()
        while True:
            due += interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await self._send_fragment(fragment_id)

    def _stop_timer(self, fragment_id: str) -> None:
        found = self._timers.pop(fragment_id, None)
        if found is not None:
            found[1].cancel()
        self._pending_fragments.pop(fragment_id, None)
        self.seen.fragments.discard(fragment_id)

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for data in self._ws:
                assert isinstance(data, bytes)
                self.seen.bytes_in += len(data)
                self.seen.messages_in += 1
                message = ForwardMsg()
                message.ParseFromString(data)
                self._handle(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the connection dropped: wake whoever waits
            if self._run_waiter is not None and not self._run_waiter.done():
                self._run_waiter.set_exception(exc)

    def _handle(self, message: ForwardMsg) -> None:
        kind = message.WhichOneof("type")
        now = time.perf_counter()
        if kind == "navigation":  # the app's pages with their real hashes (new_session's
            # hash, before the pages are known, is a stand-in derived from the page name)
            for page in message.navigation.app_pages:
                if page.url_pathname == self.url_path:
                    self.page_hash = page.page_script_hash
        elif kind == "new_session":
            # a fragment run that ended early, followed by another fragment's run: cut short
            # by that request (followed by a full run, it was the fragment's own st.rerun())
            if self._ended_early and message.metadata.run.fragment_ids:
                self.seen.fragment_interrupted += 1
            self._ended_early = False
            if not message.metadata.run.fragment_ids:  # a full run: its fragments start over
                for fragment_id in list(self._timers):
                    self._stop_timer(fragment_id)
                if self._run_waiter is None or self._run_waiter.done():
                    self._server_run_started = now  # not asked for: a st.rerun() elsewhere
        elif kind == "page_info_changed":
            self.query_string = message.page_info_changed.query_string
        elif kind == "auto_rerun":
            fragment_id, interval = message.auto_rerun.fragment_id, message.auto_rerun.interval
            if fragment_id and self._timers.get(fragment_id, (None,))[0] != interval:
                self._stop_timer(fragment_id)
                task = asyncio.create_task(self._every(fragment_id, interval))
                self._timers[fragment_id] = (interval, task)
                self.seen.fragments.add(fragment_id)
                self.seen.fragments_seen.add(fragment_id)
        elif kind == "stop_auto_rerun":
            for fragment_id in message.stop_auto_rerun.fragment_ids:
                self._stop_timer(fragment_id)
        elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            self._element(message.delta.new_element)
        elif kind == "script_finished":
            self._finished(message, now)

    def _element(self, element: object) -> None:
        kind = element.WhichOneof("type")  # type: ignore[attr-defined]
        if kind is None:
            return
        body = getattr(element, kind)
        if kind == "exception":
            self.seen.exceptions.append(f"{body.type}: {body.message}")
        elif kind == "alert" and body.format == body.ERROR:
            self.seen.errors.append(body.body)
        elif "id" in body.DESCRIPTOR.fields_by_name and body.id:
            match = _KEY.match(body.id)
            if match:
                self.seen.widget_ids[match["key"]] = body.id

    def _finished(self, message: ForwardMsg, now: float) -> None:
        status = message.script_finished
        if status == FRAGMENT_FINISHED:
            for fragment_id in message.metadata.run.fragment_ids:
                sent = self._pending_fragments.pop(fragment_id, None)
                if sent is not None:
                    self.seen.fragment_runs.append(now - sent)
                    every = self._timers.get(fragment_id, (0.0,))[0]
                    self.seen.fragment_runs_every.setdefault(every, []).append(now - sent)
                    self.seen.fragment_log.append((time.time(), fragment_id, now - sent))
            return
        if status == EARLY_FOR_RERUN:  # st.rerun() or a newer request: the next finish counts
            self._ended_early = bool(message.metadata.run.fragment_ids)
            return
        # fragment reruns asked for during a full run were absorbed by it: not answered apart
        self._pending_fragments.clear()
        if self._run_waiter is not None and not self._run_waiter.done():
            self._run_waiter.set_result(status)
        elif self._server_run_started is not None:
            self.seen.server_runs.append(now - self._server_run_started)
        self._server_run_started = None
