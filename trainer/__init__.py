"""The offline half: event log → sessions → item-interaction embeddings → published artifacts."""
