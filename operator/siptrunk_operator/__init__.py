"""siptrunk-operator: Google Dialogflow SIP trunks as Kubernetes SipTrunk resources."""

__version__ = "0.1.0"
