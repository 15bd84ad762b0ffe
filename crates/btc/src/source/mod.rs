//! Block sources: Bitcoin Core's blocks directory, REST and JSON-RPC.
