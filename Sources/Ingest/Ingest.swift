import Model
// Ingest: see Package.swift for this target's job.
