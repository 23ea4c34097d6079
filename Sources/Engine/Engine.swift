import Model
// Engine: see Package.swift for this target's job.
