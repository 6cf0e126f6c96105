//! Zones: polygons in normalised image coordinates where violations count.
//!
//! Point-in-polygon is the even–odd ray-casting test written out here (a dozen lines):
//! the `geo` crate would do it too, but pulls a large geometry stack (and `num-traits`,
//! `rstar`, …) into the vision crate for one function.

use serde::{Deserialize, Serialize};

/// Why a zone was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZoneError {
    /// Fewer than three corners.
    #[error("zone {name:?} needs at least 3 points, got {got}")]
    TooFewPoints {
        /// The zone's name.
        name: String,
        /// Number of points given.
        got: usize,
    },
    /// A coordinate outside `0..=1` or not a number.
    #[error("zone {name:?}: point {index} ({x}, {y}) is outside 0..1 (coordinates are fractions of the frame's width and height)")]
    OutOfRange {
        /// The zone's name.
        name: String,
        /// Index of the offending point.
        index: usize,
        /// Its x.
        x: f32,
        /// Its y.
        y: f32,
    },
}

/// A named polygon in normalised coordinates: `(0, 0)` is the frame's top-left corner,
/// `(1, 1)` its bottom-right, so a zone keeps its meaning when the detect resolution
/// changes. Edges may cross (the even–odd rule decides what is inside).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ZoneSpec", into = "ZoneSpec")]
pub struct Zone {
    name: String,
    points: Vec<[f32; 2]>,
}

/// The serialised form of a [`Zone`], validated by [`Zone::new`] on the way in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneSpec {
    name: String,
    points: Vec<[f32; 2]>,
}

impl TryFrom<ZoneSpec> for Zone {
    type Error = ZoneError;
    fn try_from(s: ZoneSpec) -> Result<Self, ZoneError> {
        Zone::new(s.name, s.points)
    }
}

impl From<Zone> for ZoneSpec {
    fn from(z: Zone) -> Self {
        ZoneSpec {
            name: z.name,
            points: z.points,
        }
    }
}

impl Zone {
    /// A zone from at least three `[x, y]` corners, each coordinate in `0..=1`.
    pub fn new(name: impl Into<String>, points: Vec<[f32; 2]>) -> Result<Self, ZoneError> {
        let name = name.into();
        if points.len() < 3 {
            return Err(ZoneError::TooFewPoints {
                name,
                got: points.len(),
            });
        }
        let bad = points
            .iter()
            .position(|&[x, y]| !(0.0..=1.0).contains(&x) || !(0.0..=1.0).contains(&y));
        if let Some(index) = bad {
            let [x, y] = points[index];
            return Err(ZoneError::OutOfRange { name, index, x, y });
        }
        Ok(Self { name, points })
    }

    /// The zone's name (stored with each violation).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The corners, normalised.
    pub fn points(&self) -> &[[f32; 2]] {
        &self.points
    }

    /// True when the normalised point `(x, y)` is inside (even–odd rule). Points exactly
    /// on an edge may fall either way; a face centre is never that precise.
    pub fn contains(&self, x: f32, y: f32) -> bool {
        let mut inside = false;
        let n = self.points.len();
        let mut j = n - 1;
        for i in 0..n {
            let [xi, yi] = self.points[i];
            let [xj, yj] = self.points[j];
            // The edge (j → i) straddles the horizontal line through y, and the crossing
            // point is to the right of x: the ray to +∞ crosses this edge.
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
            j = i;
        }
        inside
    }
}

/// The first zone of `zones` containing the normalised point, `Some(None)` when there are
/// no zones (the whole frame counts), `None` when the point is outside every zone.
pub(crate) fn zone_for(zones: &[Zone], x: f32, y: f32) -> Option<Option<&Zone>> {
    if zones.is_empty() {
        return Some(None);
    }
    zones.iter().find(|z| z.contains(x, y)).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square() -> Zone {
        Zone::new("door", vec![[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]).unwrap()
    }

    #[test]
    fn points_inside_and_outside_a_square_and_a_concave_polygon() {
        // An L shape: the notch at the top right is outside.
        let l = Zone::new(
            "l",
            vec![
                [0.0, 0.0],
                [0.4, 0.0],
                [0.4, 0.6],
                [1.0, 0.6],
                [1.0, 1.0],
                [0.0, 1.0],
            ],
        )
        .unwrap();
        let cases = [
            (&square(), 0.25, 0.25, true),
            (&square(), 0.75, 0.25, false),
            (&square(), 0.25, 0.75, false),
            (&l, 0.2, 0.2, true),
            (&l, 0.8, 0.2, false), // the notch
            (&l, 0.8, 0.8, true),
            (&l, 1.5, 0.8, false),
        ];
        for (zone, x, y, want) in cases {
            assert_eq!(zone.contains(x, y), want, "{} at ({x}, {y})", zone.name());
        }
    }

    #[test]
    fn invalid_zones_are_refused_naming_the_problem() {
        let few = Zone::new("a", vec![[0.0, 0.0], [1.0, 1.0]]).unwrap_err();
        assert!(matches!(few, ZoneError::TooFewPoints { got: 2, .. }));
        let out = Zone::new("b", vec![[0.0, 0.0], [1.2, 0.0], [0.0, 1.0]]).unwrap_err();
        assert!(
            matches!(out, ZoneError::OutOfRange { index: 1, .. }),
            "{out}"
        );
        let nan = Zone::new("c", vec![[0.0, 0.0], [f32::NAN, 0.0], [0.0, 1.0]]).unwrap_err();
        assert!(matches!(nan, ZoneError::OutOfRange { index: 1, .. }));
    }

    #[test]
    fn zones_deserialise_with_validation() {
        let ok: Zone =
            serde_json::from_str(r#"{"name":"till","points":[[0,0],[1,0],[1,1]]}"#).unwrap();
        assert_eq!(ok.name(), "till");
        let err = serde_json::from_str::<Zone>(r#"{"name":"x","points":[[0,0],[2,0],[1,1]]}"#)
            .unwrap_err();
        assert!(err.to_string().contains("outside 0..1"), "{err}");
    }

    #[test]
    fn no_zones_means_the_whole_frame() {
        assert_eq!(zone_for(&[], 0.9, 0.9), Some(None));
        let zones = [square()];
        assert_eq!(
            zone_for(&zones, 0.1, 0.1).map(|z| z.map(Zone::name)),
            Some(Some("door"))
        );
        assert_eq!(zone_for(&zones, 0.9, 0.9), None);
    }
}
