import Model
// Store: see Package.swift for this target's job.
