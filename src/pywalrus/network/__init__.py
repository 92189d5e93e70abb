"""What the client and the storage node share: the node's HTTP protocol seen from outside.

`routes` (the paths of the node REST API, for the node's router and for callers), `envelope`
(the Walrus JSON envelope of answers and errors, built by nodes and read by callers),
`node_client` (`NodeClient`, the HTTP client of one node; every failure is a `NodeError`),
`committee` (`CommitteeView`: who serves which shard at which URL with which key) and `fetch`
(reads from several nodes that verify what they get, such as `fetch_verified_metadata`).

The SDK (`pywalrus.client`) and the storage node's peer traffic (blob and shard sync) both
speak to nodes through this package, so that `pywalrus.node` never imports `pywalrus.client`.
It builds on `pywalrus.core` and the chain's client side (`pywalrus.chain.client`) only.
"""
