"""Edge agent and equipment/fleet simulator: telemetry over MQTT 5 that never loses a reading.

Imports nothing from other quietfix packages (it runs on the device).
"""

from edge_agent.agent import Agent, AgentConfig
from edge_agent.buffer import BufferStore, DiskBuffer
from edge_agent.fleet import Fleet
from edge_agent.models import Command, CommandResult, DeviceSpec, FaultLabel
from edge_agent.simulator import ALARM_LIMITS, EQUIPMENT_TYPES, FAULT_MODES, NOMINAL, Equipment

__all__ = [
    "ALARM_LIMITS",
    "EQUIPMENT_TYPES",
    "FAULT_MODES",
    "NOMINAL",
    "Agent",
    "AgentConfig",
    "BufferStore",
    "Command",
    "CommandResult",
    "DeviceSpec",
    "DiskBuffer",
    "Equipment",
    "FaultLabel",
    "Fleet",
]
