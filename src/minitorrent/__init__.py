"""minitorrent: group-based, private peer-to-peer file sharing that speaks BitTorrent."""

__version__ = "0.1.0"
