"""The SeaweedFS fixture's ports: weed listens on each port and on port + 10000 (gRPC), so no
drawn port may be another's twin (a master on 35869 took 45869, the S3 port drawn earlier)."""

from tests.storage.conftest import _free_port


def test_no_drawn_port_is_another_ports_grpc_twin():
    ports = [_free_port() for _ in range(300)]
    listened = ports + [port + 10000 for port in ports]
    assert len(set(listened)) == len(listened)
    assert all(port + 10000 < 65536 for port in ports)
