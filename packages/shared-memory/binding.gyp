{
  "targets": [
    {
      "target_name": "octoserve_shared_memory",
      "sources": ["native/shared_memory.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
