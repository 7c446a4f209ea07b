"""The nightly run: a concurrent workload under a seeded nemesis, judged once it has drained."""
