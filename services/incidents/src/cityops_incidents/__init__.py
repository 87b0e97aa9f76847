"""CityOps incidents service: every report becomes an incident here (intake, fusion, triage,
lifecycle, SLA escalation, audit timeline). See docs/incidents.md."""
