"""What the target is and what it needs: profiles, index reading, resolution, locks."""
