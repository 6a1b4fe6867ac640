"""Knowledge base seed and feedback from closed work orders."""

from __future__ import annotations

import pytest

from diagnostics import Part, WorkOrderFeedback, apply_feedback, load_knowledge
from diagnostics.classify import default_rules

SKILLS = {"mechanical", "electrical", "refrigeration", "instrumentation"}


def test_seed_covers_every_rule_mode_and_is_well_formed():
    kb = load_knowledge()
    for eq, rules in default_rules()["equipment"].items():
        for r in rules:
            assert (eq, r["mode"]) in kb
    for (eq, mode), e in kb.items():
        assert 1 <= e.severity <= 3 and e.repair_minutes > 0 and e.diagnostic_steps
        assert set(e.skills) <= SKILLS and e.parts and all(p.qty > 0 for p in e.parts)
    assert kb[("pump", "motor_trip")].remote_fix == "reset"
    assert kb[("pump", "sensor_drift")].remote_fix == "recalibrate"
    assert kb[("pump", "bearing_wear")].remote_fix is None


def test_feedback_counts_and_promotes_most_frequent_cause():
    e = load_knowledge()[("pump", "seal_leak")]
    fb = WorkOrderFeedback("worn impeller", "replaced impeller", (Part("IMP-125", 1),), 200)
    e1 = apply_feedback(e, fb)
    assert e1.probable_cause == e.probable_cause  # one report only ties the seed; seed wins ties by order
    e2 = apply_feedback(e1, fb)
    assert e2.probable_cause == "worn impeller"
    assert dict(e2.cause_counts) == {e.probable_cause: 1, "worn impeller": 2}
    assert dict(e2.fix_counts) == {"replaced impeller": 2}
    assert [p.sku for p in e2.parts] == ["IMP-125"]
    assert e2.repair_minutes == 200
    assert e.cause_counts == ()  # frozen: the original is untouched


def test_feedback_parts_keep_frequent_ones_and_median_minutes():
    e = load_knowledge()[("pump", "bearing_wear")]
    for minutes in (100, 110, 900):
        e = apply_feedback(e, WorkOrderFeedback("bearing", "replaced bearing",
                                                (Part("BRG-6205-2RS", 2), Part("GREASE-EP2-400G", 1)), minutes))
    e = apply_feedback(e, WorkOrderFeedback("bearing", "replaced bearing", (Part("SHAFT-X", 1),)))
    assert {p.sku for p in e.parts} == {"BRG-6205-2RS", "GREASE-EP2-400G"}
    assert {p.sku: p.qty for p in e.parts}["BRG-6205-2RS"] == 2
    assert e.repair_minutes == 110


def test_load_from_document():
    doc = {"equipment": {"fan": {"belt": {"probable_cause": "c", "diagnostic_steps": ["s"], "remote_fix": None,
                                          "skills": ["mechanical"], "parts": [{"sku": "B", "qty": 1}],
                                          "repair_minutes": 30, "severity": 1}}}}
    kb = load_knowledge(doc)
    assert kb[("fan", "belt")].parts[0].sku == "B"
    with pytest.raises(KeyError):
        load_knowledge({"equipment": {"fan": {"belt": {}}}})
