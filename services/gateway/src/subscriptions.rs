//! The topics one client is subscribed to, kept small: a client of 100 rooms × 2 channels is
//! one of thousands on a gateway, and its bookkeeping is paid per connection.
//!
//! One sorted entry per room with a bit per channel (16 bytes a room, whatever the channels),
//! instead of a tree node entry per topic.

use crate::channel::{Channel, Topic};

/// A set of channels of one room: bit `i` is [`Channel::ALL`]`[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct ChannelSet(u16);

const _: () = assert!(Channel::ALL.len() <= u16::BITS as usize);

impl ChannelSet {
    /// The channel's bit; `None` for a channel outside [`Channel::ALL`] (`Channel::parse` names
    /// none such, so no client can ask for one).
    fn bit(channel: Channel) -> Option<u16> {
        channel.index().map(|i| 1 << i)
    }

    fn channels(self) -> impl Iterator<Item = Channel> {
        Channel::ALL
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, c)| c)
    }
}

/// A client's subscribed topics.
#[derive(Debug, Default)]
pub struct Subscriptions {
    /// Sorted by room; no entry has an empty set.
    rooms: Vec<(u64, ChannelSet)>,
}

impl Subscriptions {
    /// Adds `topic`; false when it was there already.
    pub fn insert(&mut self, topic: Topic) -> bool {
        let Some(bit) = ChannelSet::bit(topic.channel) else {
            return false;
        };
        match self.rooms.binary_search_by_key(&topic.room, |(r, _)| *r) {
            Ok(i) => {
                let set = &mut self.rooms[i].1;
                let added = set.0 & bit == 0;
                set.0 |= bit;
                added
            }
            Err(i) => {
                self.rooms.insert(i, (topic.room, ChannelSet(bit)));
                true
            }
        }
    }

    /// Removes `topic`; false when it was not there.
    pub fn remove(&mut self, topic: Topic) -> bool {
        let Some(bit) = ChannelSet::bit(topic.channel) else {
            return false;
        };
        let Ok(i) = self.rooms.binary_search_by_key(&topic.room, |(r, _)| *r) else {
            return false;
        };
        let set = &mut self.rooms[i].1;
        let removed = set.0 & bit != 0;
        set.0 &= !bit;
        if set.0 == 0 {
            self.rooms.remove(i);
        }
        removed
    }

    /// Whether `room` has any subscribed channel.
    pub fn has_room(&self, room: u64) -> bool {
        self.rooms.binary_search_by_key(&room, |(r, _)| *r).is_ok()
    }

    /// Rooms with at least one subscribed channel.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// Every subscribed topic, by room then channel.
    pub fn iter(&self) -> impl Iterator<Item = Topic> + '_ {
        self.rooms
            .iter()
            .flat_map(|&(room, set)| set.channels().map(move |channel| Topic { room, channel }))
    }

    /// Topics subscribed.
    pub fn len(&self) -> usize {
        self.rooms
            .iter()
            .map(|(_, s)| s.0.count_ones() as usize)
            .sum()
    }

    /// True when nothing is subscribed.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// Gives back capacity a burst of subscribes left (called after each request).
    pub fn shrink(&mut self) {
        self.rooms.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bilipulse_proto::Kind;
    use bilipulse_proto::subject::Window;

    fn t(room: u64, channel: Channel) -> Topic {
        Topic { room, channel }
    }

    #[test]
    fn behaves_as_a_set_of_topics_sorted_by_room_then_channel() {
        let mut s = Subscriptions::default();
        let danmaku = Channel::Event(Kind::Danmaku);
        let s1 = Channel::Window(Window::S1);
        assert!(s.insert(t(9, danmaku)));
        assert!(s.insert(t(3, s1)));
        assert!(s.insert(t(9, s1)));
        assert!(!s.insert(t(9, s1)), "twice is once");
        assert_eq!(s.len(), 3);
        assert_eq!(s.room_count(), 2);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [t(3, s1), t(9, s1), t(9, danmaku)]
        );
        assert!(s.remove(t(9, s1)));
        assert!(!s.remove(t(9, s1)));
        assert!(!s.remove(t(4, s1)));
        assert!(s.has_room(9));
        assert!(s.remove(t(9, danmaku)));
        assert!(!s.has_room(9), "a room with no channel left is gone");
        assert_eq!(s.iter().collect::<Vec<_>>(), [t(3, s1)]);
    }

    #[test]
    fn every_channel_has_its_own_bit() {
        let mut s = Subscriptions::default();
        for c in Channel::ALL {
            assert!(s.insert(t(1, c)), "{c}");
        }
        assert_eq!(s.len(), Channel::ALL.len());
        assert_eq!(
            s.iter().map(|t| t.channel).collect::<Vec<_>>(),
            Channel::ALL
        );
        let odd = Channel::Window(Window::from_secs(5).expect("5 s"));
        assert!(
            !s.insert(t(1, odd)),
            "a width clients cannot ask for is never held"
        );
    }
}
