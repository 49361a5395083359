"""A local HTTP server that speaks the Polymarket, Kalshi and Alpaca APIs (see docs/venues.md).

Plain Python: importing it needs no Django settings, so tests and benchmarks can start it anywhere.
"""

from trading.simulator.faults import Fault, FaultPlan
from trading.simulator.server import PREFIXES, SimulatorConfig, VenueSimulator

__all__ = ["PREFIXES", "Fault", "FaultPlan", "SimulatorConfig", "VenueSimulator"]
