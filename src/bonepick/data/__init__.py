"""Pure transforms over row iterators and the steps that apply them shard by shard."""
