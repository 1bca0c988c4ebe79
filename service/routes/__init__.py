"""HTTP routes, thin: parse → call one core function → shape the response."""
