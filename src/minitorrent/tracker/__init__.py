"""The tracker: users, groups, shared files and swarms, over HTTP/JSON and BitTorrent announce."""
