"""Peer side: piece picker, choker, storage, swarm."""
