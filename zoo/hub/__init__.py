"""Layer 5: registry versions to and from the Hugging Face Hub through huggingface_hub (references, bounded
network waits, the Hub's refusals as zoo errors). Above the artifact layer (``zoo_registry``), below the jobs."""
