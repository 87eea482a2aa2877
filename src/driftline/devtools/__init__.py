"""For demos and tests only: the traffic simulator and a local webhook receiver that
stands in for Slack. Nothing in the loop imports these."""
