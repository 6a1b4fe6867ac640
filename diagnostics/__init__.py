"""diagnostics: find faults early (detectors, normal model), explain them (classifier, knowledge base),
decide incidents (pure state machine) and estimate remaining useful life; plus the database-backed diagnose
loop (service.py), which is the only part that does I/O."""

from diagnostics.block import BlockMonitor
from diagnostics.classify import classify
from diagnostics.config import default_config, equipment_config
from diagnostics.fleet import Fleet
from diagnostics.incidents import (
    Incident,
    IncidentEvent,
    IncidentPolicy,
    IncidentState,
    InvalidTransition,
    ServiceClocks,
    ServiceTargets,
    SlaDeadlines,
    contract_targets,
    service_clocks,
    sla_class,
    step,
    transition,
)
from diagnostics.knowledge import KnowledgeEntry, Part, WorkOrderFeedback, apply_feedback, load_knowledge
from diagnostics.learning_repository import latest_rul_many
from diagnostics.loop_rules import service_targets
from diagnostics.models import FaultHypothesis, Finding
from diagnostics.monitor import DeviceMonitor
from diagnostics.normal_model import NormalModel, train_normal_model
from diagnostics.remote import CommandChannel, MqttCommandChannel
from diagnostics.repository import predicted_failures
from diagnostics.rul import RulModel, RulPolicy, WearTracker
from diagnostics.service import DiagnoseLoop, LoopPolicy
from diagnostics.trainer import TrainingJob, model_versions
from diagnostics.watchdog import DetectionWatchdog, WatchdogReport, start_watchdog

__all__ = [
    "BlockMonitor",
    "CommandChannel",
    "DetectionWatchdog",
    "DeviceMonitor",
    "DiagnoseLoop",
    "FaultHypothesis",
    "Finding",
    "Fleet",
    "Incident",
    "IncidentEvent",
    "IncidentPolicy",
    "IncidentState",
    "InvalidTransition",
    "KnowledgeEntry",
    "LoopPolicy",
    "MqttCommandChannel",
    "NormalModel",
    "Part",
    "RulModel",
    "RulPolicy",
    "ServiceClocks",
    "ServiceTargets",
    "SlaDeadlines",
    "TrainingJob",
    "WatchdogReport",
    "WearTracker",
    "WorkOrderFeedback",
    "apply_feedback",
    "classify",
    "contract_targets",
    "default_config",
    "equipment_config",
    "latest_rul_many",
    "load_knowledge",
    "model_versions",
    "predicted_failures",
    "service_clocks",
    "service_targets",
    "sla_class",
    "start_watchdog",
    "step",
    "train_normal_model",
    "transition",
]
