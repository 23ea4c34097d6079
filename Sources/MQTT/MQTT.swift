import CMosquitto
// MQTT: see Package.swift for this target's job.
