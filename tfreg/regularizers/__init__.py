"""One module per regularization technique: a pure function and, where it acts in the graph, a layer."""
