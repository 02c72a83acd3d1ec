"""The budget plan: rates, stage and probe lengths, when growth stops, what a child may cost."""
import math

import pytest

from kerasauto.engine.budget import GrowthPlan, LearningRatePlan, TrialBudget


def test_losing_probes_take_their_share_of_a_growth_cycle_overheads_included():
    plan = GrowthPlan(children=3, probe_epochs=0.25, probe_share=0.1)
    assert plan.stage_epochs == pytest.approx(6.5)
    for epoch, overhead in [(10.0, 0.0), (10.0, 5.0), (0.3, 4.0), (120.0, 8.0)]:
        stage = plan.stage_epochs_for(epoch, overhead)
        probe = plan.probe_seconds(epoch, overhead)
        cycle = stage * epoch + (plan.children + 1) * probe
        assert plan.children * probe / cycle <= plan.probe_share + 1e-9
        assert stage >= plan.stage_epochs
    # Unmeasured (the seed's first stage): the plan's own figure.
    assert plan.stage_epochs_for(None, 3.0) == plan.stage_epochs


def test_growth_stops_when_the_probes_would_run_into_the_decay():
    plan = GrowthPlan()
    probes = 4 * plan.probe_seconds(10.0, 1.0)  # 14 s
    assert plan.may_grow(probes + 0.1, 10.0, 1.0)
    assert not plan.may_grow(probes - 0.1, 10.0, 1.0)


def test_a_child_may_cost_what_it_can_still_train_as_long_as_its_lineage():
    # 600 s left at 20 s an epoch is 30 epochs of the parent; the lineage has had 10: 3x.
    assert GrowthPlan.affordable_cost(1e6, 600.0, 20.0, 10.0) == pytest.approx(3e6)
    assert GrowthPlan.affordable_cost(1e6, 600.0, None, 10.0) == math.inf
    assert GrowthPlan.affordable_cost(1e6, 600.0, 20.0, 0.0) == math.inf


def test_a_trial_budget_travels_as_plain_values_and_advances_by_its_own_clock():
    budget = TrialBudget(seconds=30.0, epochs=0.25, progress=0.4, progress_per_second=0.01)
    values = budget.to_values()
    assert all(isinstance(v, (int, float)) for v in values.values())
    again = TrialBudget.from_values({**values, "architecture": "{}"})
    assert again == budget
    assert again.progress_at(10.0) == pytest.approx(0.5)
    assert TrialBudget(progress=0.2, progress_per_trial=0.25).progress_at(0.0, trials=0.5) \
        == pytest.approx(0.325)


def test_the_learning_rate_plan_is_flat_then_one_decay():
    plan = LearningRatePlan(base=1e-3, decay_fraction=1 / 3)
    assert plan.rate(0.0) == plan.rate(0.66) == 1e-3
    assert plan.rate(1.0) == pytest.approx(1e-5)
    assert plan.rate(0.8) < plan.rate(0.7) < 1e-3
