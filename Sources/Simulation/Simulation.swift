import Model
// Simulation: see Package.swift for this target's job.
