import Model
// Registry: see Package.swift for this target's job.
