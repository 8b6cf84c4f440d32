"""GDAL's COG validator over several files in one process (run with /usr/bin/python3).

usage: validate_cogs.py FILE...

Prints one JSON line per file: {"errors": [...], "warnings": [...]} from
osgeo_utils.samples.validate_cloud_optimized_geotiff.validate(FILE, full_check=True), the
check behind `validate_cloud_optimized_geotiff --full-check=yes`.
"""
import json
import sys

from osgeo_utils.samples.validate_cloud_optimized_geotiff import (
    ValidateCloudOptimizedGeoTIFFException,
    validate,
)

for path in sys.argv[1:]:
    try:
        warnings, errors, _ = validate(path, full_check=True)
    except ValidateCloudOptimizedGeoTIFFException as e:
        warnings, errors = [], [str(e)]
    print(json.dumps({"errors": errors, "warnings": warnings}))
