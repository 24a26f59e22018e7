"""Tests of edge_actors.wire."""
