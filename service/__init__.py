"""The online half: serves candidates from the current artifacts and Redis histories."""
