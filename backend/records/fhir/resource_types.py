"""The resource types a hospital may push: FHIR R4's (4.0.1), as far as the R4B models we validate with
still define them. fhir.resources would also build `Element`, `Extension`, `Resource` or R4B-only types,
which are not R4 resources; and a Bundle, Parameters or OperationOutcome is a message, not a record."""

from __future__ import annotations

import importlib.util

_R4_RESOURCE_TYPES = """
    Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment AppointmentResponse AuditEvent
    Basic Binary BiologicallyDerivedProduct BodyStructure CapabilityStatement CarePlan CareTeam CatalogEntry
    ChargeItem ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem Communication
    CommunicationRequest CompartmentDefinition Composition ConceptMap Condition Consent Contract Coverage
    CoverageEligibilityRequest CoverageEligibilityResponse DetectedIssue Device DeviceDefinition DeviceMetric
    DeviceRequest DeviceUseStatement DiagnosticReport DocumentManifest DocumentReference
    EffectEvidenceSynthesis Encounter Endpoint EnrollmentRequest EnrollmentResponse EpisodeOfCare
    EventDefinition Evidence EvidenceVariable ExampleScenario ExplanationOfBenefit FamilyMemberHistory Flag
    Goal GraphDefinition Group GuidanceResponse HealthcareService ImagingStudy Immunization
    ImmunizationEvaluation ImmunizationRecommendation ImplementationGuide InsurancePlan Invoice Library
    Linkage List Location Measure MeasureReport Media Medication MedicationAdministration MedicationDispense
    MedicationKnowledge MedicationRequest MedicationStatement MessageDefinition MessageHeader
    MolecularSequence NamingSystem NutritionOrder Observation ObservationDefinition OperationDefinition
    Organization OrganizationAffiliation Patient PaymentNotice PaymentReconciliation Person PlanDefinition
    Practitioner PractitionerRole Procedure Provenance Questionnaire QuestionnaireResponse RelatedPerson
    RequestGroup ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject RiskAssessment
    RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen SpecimenDefinition
    StructureDefinition StructureMap Subscription Substance SubstanceNucleicAcid SubstancePolymer
    SubstanceProtein SubstanceReferenceInformation SubstanceSourceMaterial SubstanceSpecification
    SupplyDelivery SupplyRequest Task TerminologyCapabilities TestReport TestScript ValueSet
    VerificationResult VisionPrescription
    """.split()


def _definable(name: str) -> bool:
    """Whether fhir.resources has a model for it: its module exists. (Asking for the class itself would
    import all 125 models, three seconds at every start of every command.)"""
    return importlib.util.find_spec(f"fhir.resources.R4B.{name.lower()}") is not None


PUSHABLE_RESOURCE_TYPES = frozenset(name for name in _R4_RESOURCE_TYPES if _definable(name))
