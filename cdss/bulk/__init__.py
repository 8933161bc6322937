"""Population screening of a FHIR Bulk Data export: one patient's resources joined, mapped and evaluated.

The join differs by backend (multiprocessing on one machine, or Spark); what happens to one patient's
resources does not: `cdss.bulk.patients.screen_patient` maps them with the CDS Hooks mapping
(`cdss.hooks.fhir`) and evaluates them with the same rules, so a population screen and the advice at the
point of care can never disagree.
"""
