"""What a server measures once and shares: the training rate, the process baseline and
gradient-flow measurements, one at a time however many tabs ask together."""

from __future__ import annotations

import threading

from tiny import tiny_config

from googlenet_core import get_preset
from googlenet_core.network.costs import flow_batch
from googlenet_core.service import probes
from googlenet_core.service.budgets import FLOW_MAX_BYTES
from googlenet_core.training.config import TrainConfig


def test_the_measured_rate_is_remembered_per_network(monkeypatch) -> None:
    asked: list[int] = []

    def probe(config, train_config, *args, **kwargs) -> float:
        asked.append(train_config.batch_size)
        return 1e9 * len(asked)

    monkeypatch.setattr(probes, "probe_macs_per_s", probe)
    monkeypatch.setattr(probes, "_rates", {})
    first = probes.machine_rate(tiny_config(), TrainConfig(batch_size=16))
    assert probes.machine_rate(tiny_config(), TrainConfig(batch_size=16)) == first
    assert probes.machine_rate(tiny_config(), TrainConfig(batch_size=32)) != first
    assert asked == [16, 32]
    monkeypatch.setattr(probes, "RATE_TTL_S", 0.0)  # expired: measured again
    probes.machine_rate(tiny_config(), TrainConfig(batch_size=16))
    assert asked == [16, 32, 16]


def test_tabs_arriving_together_share_one_probe(monkeypatch) -> None:
    """A class opening a cold server at once: one real probe, every caller gets its rate."""
    calls: list[int] = []
    real = probes.probe_macs_per_s

    def counted(config, train_config, *args, **kwargs) -> float:
        calls.append(1)
        return real(config, train_config, *args, **kwargs)

    monkeypatch.setattr(probes, "probe_macs_per_s", counted)
    monkeypatch.setattr(probes, "_rates", {})
    rates: list[float] = []
    tabs = [
        threading.Thread(target=lambda: rates.append(probes.host_rate(TrainConfig(batch_size=64))))
        for _ in range(6)
    ]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join()
    assert calls == [1] and len(set(rates)) == 1 and rates[0] > 0


def test_gradient_flow_is_measured_once_per_design_and_one_at_a_time(monkeypatch) -> None:
    """Thirty students on the Concepts page: one measurement, and never two at once."""
    running: list[int] = []
    most, calls = [0], [0]
    real = probes.gradient_flow

    def watched(config, batch):
        running.append(1)
        calls[0] += 1
        most[0] = max(most[0], len(running))
        try:
            return real(config, batch=batch)
        finally:
            running.pop()

    monkeypatch.setattr(probes, "gradient_flow", lambda config, batch: watched(config, batch))
    flows = probes.FlowMeasurements(keep=1)
    mini, batch = get_preset("mini"), flow_batch(get_preset("mini"), FLOW_MAX_BYTES)
    results: list[object] = []
    tabs = [
        threading.Thread(target=lambda: results.append(flows.measure(mini, batch)))
        for _ in range(4)
    ]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join()
    assert calls[0] == 1 and most[0] == 1  # measured once, by one of the four
    assert len(results) == 4 and all(r == results[0] for r in results)
    assert flows.known(mini, batch)
    flows.measure(get_preset("mini"), 4)  # another batch: remembered instead (keep=1)
    assert not flows.known(mini, batch)
