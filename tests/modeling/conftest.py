import sys
from pathlib import Path

# Test modules here share small fixture builders (test_train) by plain import.
sys.path.insert(0, str(Path(__file__).parent))
