//! Geometry on struct types: a struct in and out, an array of structs shared in place, and an error
//! on input that has no answer.

shmcall::shm_struct! {
    /// A point in the plane.
    pub plain struct Point { pub x: f64, pub y: f64 }
}

shmcall::shm_struct! {
    /// A vector in space.
    pub plain struct Vec3 { pub x: f64, pub y: f64, pub z: f64 }
}

shmcall::shm_struct! {
    /// A point with a label and a weight, either of which may be left out (None).
    pub struct Marker { pub at: Point, pub label: Option<String>, pub weight: Option<f64> }
}

shmcall::export! {
    /// Rotates `p` about the origin by `degrees`, counter-clockwise.
    pub fn rotate(p: Point, degrees: f64) -> Point {
        let (sin, cos) = degrees.to_radians().sin_cos();
        Point { x: p.x * cos - p.y * sin, y: p.x * sin + p.y * cos }
    }

    /// Scales every vector to length 1, in place; zero vectors stay zero.
    /// Python's array is changed where it is, not copied.
    pub fn normalize(vectors: &mut [Vec3]) {
        for v in vectors {
            let len = (v.x * v.x + v.y * v.y + v.z * v.z).sqrt();
            if len > 0.0 {
                *v = Vec3 { x: v.x / len, y: v.y / len, z: v.z / len };
            }
        }
    }

    /// The index of the point nearest to `to`; None when there are no points, or when none lies
    /// within `within` (any distance when left out).
    pub fn nearest(points: &[Point], to: Point, within: Option<f64>) -> Option<u64> {
        let distance = |p: &Point| (p.x - to.x).hypot(p.y - to.y);
        let (index, d) = points.iter().map(distance).enumerate().min_by(|a, b| a.1.total_cmp(&b.1))?;
        (d <= within.unwrap_or(f64::INFINITY)).then_some(index as u64)
    }

    /// A marker at `at`, labelled if a label is given; no weight.
    pub fn mark(at: Point, label: Option<&str>) -> Marker {
        Marker { at, label: label.map(str::to_owned), weight: None }
    }

    /// "label at (x, y), weight w": "unlabelled" without a label, weight 1 when it has none.
    pub fn describe_marker(m: Marker) -> String {
        let label = m.label.as_deref().unwrap_or("unlabelled");
        format!("{label} at ({}, {}), weight {}", m.at.x, m.at.y, m.weight.unwrap_or(1.0))
    }

    /// The area of the simple polygon with these vertices, in order (either direction).
    /// Fewer than three vertices are an error.
    pub fn polygon_area(vertices: &[Point]) -> shmcall::Result<f64> {
        if vertices.len() < 3 {
            return Err(shmcall::CallError::new(format!("a polygon needs at least 3 vertices, got {}", vertices.len())));
        }
        let next = vertices.iter().cycle().skip(1);
        let twice: f64 = vertices.iter().zip(next).map(|(a, b)| a.x * b.y - b.x * a.y).sum();
        Ok(twice.abs() / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotate_a_quarter_turn() {
        let p = rotate(Point { x: 1.0, y: 0.0 }, 90.0);
        assert!(p.x.abs() < 1e-12 && (p.y - 1.0).abs() < 1e-12);
    }

    #[test]
    fn normalize_keeps_zero() {
        let mut v = [Vec3 { x: 3.0, y: 0.0, z: 4.0 }, Vec3::default()];
        normalize(&mut v);
        assert_eq!(v, [Vec3 { x: 0.6, y: 0.0, z: 0.8 }, Vec3::default()]);
    }

    #[test]
    fn nearest_within_a_distance() {
        let points = [(0.0, 0.0), (3.0, 4.0)].map(|(x, y)| Point { x, y });
        let to = Point { x: 2.5, y: 4.0 };
        assert_eq!(nearest(&points, to, None), Some(1));
        assert_eq!(nearest(&points, to, Some(0.1)), None);
        assert_eq!(nearest(&[], to, None), None);
    }

    #[test]
    fn area_of_a_unit_square_and_too_few_vertices() {
        let square = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)].map(|(x, y)| Point { x, y });
        assert_eq!(polygon_area(&square), Ok(1.0));
        assert!(polygon_area(&square[..2]).is_err());
    }
}
