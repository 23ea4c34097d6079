import Model
// Rules: see Package.swift for this target's job.
