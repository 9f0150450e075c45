"""Local HTTP servers standing in for the ERP and the ECP, for tests, benchmarks and the local stack.

    with FakeErp(api_key="k", latency=0.05) as erp:
        erp.fail_next(503, Fault(status=429, retry_after="30"))
        ...  # call erp.base_url
        erp.requests            # every request received
        erp.orders_for("ord-1") # what was created

Both listen on 127.0.0.1 only, check the `X-Api-Key` header, keep their data in memory, and
accept injected faults (status sequences, Retry-After, latency, timeouts, dropped connections).
The ERP answers as Business Central does (every property, blanks included; read-only properties
refused on create), so tests see what the integrator will really get back.
"""
from orderbridge.fake_apis._ecp import FakeEcp
from orderbridge.fake_apis._erp import CustomerCard, FakeErp
from orderbridge.fake_apis._server import Fault, RecordedRequest

__all__ = ["CustomerCard", "FakeEcp", "FakeErp", "Fault", "RecordedRequest"]
