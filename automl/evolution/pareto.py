"""Non-dominated sorting and crowding distance (NSGA-II, Deb et al. 2002) for maximised
accuracy and minimised cost: the Pareto option of the evolutionary search."""
from __future__ import annotations


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """a = (accuracy, cost) is at least as good as b on both and better on one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def fronts(points: list[tuple[float, float]]) -> list[list[int]]:
    """Indices by non-domination rank: fronts[0] is the Pareto front."""
    remaining = set(range(len(points)))
    result = []
    while remaining:
        front = sorted(i for i in remaining if not any(dominates(points[j], points[i]) for j in remaining))
        result.append(front)
        remaining -= set(front)
    return result


def crowding(points: list[tuple[float, float]], front: list[int]) -> dict[int, float]:
    """Crowding distance within one front; the extremes get infinity."""
    distance = {i: 0.0 for i in front}
    for axis in (0, 1):
        ordered = sorted(front, key=lambda i: points[i][axis])
        low, high = points[ordered[0]][axis], points[ordered[-1]][axis]
        distance[ordered[0]] = distance[ordered[-1]] = float("inf")
        if high == low:
            continue
        for k in range(1, len(ordered) - 1):
            distance[ordered[k]] += (points[ordered[k + 1]][axis] - points[ordered[k - 1]][axis]) / (high - low)
    return distance


def nsga_keys(points: list[tuple[float, float]]) -> list[tuple[int, float]]:
    """Per point (rank, -crowding): smaller is better, NSGA-II's crowded-comparison order."""
    keys = [None] * len(points)
    for rank, front in enumerate(fronts(points)):
        for i, d in crowding(points, front).items():
            keys[i] = (rank, -d)
    return keys
