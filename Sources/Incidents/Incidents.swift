import Model
// Incidents: see Package.swift for this target's job.
