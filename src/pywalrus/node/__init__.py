"""The storage node: holds the slivers of its shards and serves them over REST."""
