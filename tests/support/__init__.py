"""Test support shared by the tests and the benchmarks: a stand-in Slack, a feed server on
127.0.0.1, Socket Mode and signed-request helpers, feed builders, a Block Kit limits oracle and the
label-scoring helper. The benchmarks put tests/ on sys.path and import from here too."""
