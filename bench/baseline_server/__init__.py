"""The reference "first version" of the game server, for the load benchmark's baseline mode."""
