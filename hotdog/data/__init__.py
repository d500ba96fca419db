"""Getting images in: the chapter's download, safe extraction, folder layout, pipelines and caches.

  layout     what an image folder looks like; CLASSES, the label order
  download   hotdog.zip fetched, verified and extracted (extract: the safe unzip)
  folders    a dataset's root, classes and splits as ImageFolders
  transforms the chapter's train and test transforms
  cache      decode once: every image decoded and resized a single time
  pipeline   transformed datasets and DataLoaders
  synthetic  generated hotdog / not-hotdog folders (offline demo, tests)
"""
from .._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "CLASSES": "layout", "validate_layout": "layout", "discover_classes": "layout", "LayoutError": "layout",
    "download_hotdog": "download", "default_data_dir": "layout",
    "dataset_root": "folders", "dataset_classes": "folders", "load_split": "folders",
    "train_transform": "transforms", "test_transform": "transforms",
    "load_datasets": "pipeline", "make_loader": "pipeline",
    "make_synthetic_hotdog": "synthetic",
})
