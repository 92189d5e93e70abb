"""The client SDK: store and read blobs, talk to storage nodes and the chain."""
