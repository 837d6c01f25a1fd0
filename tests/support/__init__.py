"""The one test harness: every test package takes its servers, launchers and waits from here.

origins/ (scripted, ledger, thread-served stand-ins), sidecar.py (the `edge-cache` process),
sidecar_in_process.py (the edge in the test's loop), inventory.py (the inventory-app process
and a seeded world), inventory_edge.py (the two together), browser.py (Chromium), postgres.py,
ports.py, waiting.py (async wait_until; sync code uses edgelab.process.wait_until),
processes.py, load.py (busy cores), tmpfs.py (disk-full), kubeconfig.py."""
