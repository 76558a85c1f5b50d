"""The operators' dashboard: server-rendered pages in Vietnamese and English, live counters."""
